"""Server-rendered browser pages, usable without JavaScript where they can be.

``home`` is the signed-in home page; ``site`` the pages around the rooms (projects, a new
project, open calls, the inbox); ``room`` the project room; ``records`` one record's
page; ``proposal`` one payment-split proposal's page; ``forms`` what their forms accept;
``bundles`` finds the frontend build the live parts of a page load.
"""
