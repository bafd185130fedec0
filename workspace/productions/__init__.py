"""Productions: project templates, status, descriptions, followers and calls to contribute.

``rules`` holds the templates and the status order; ``selectors`` open calls and JSON;
``services`` the writes (projects from templates, status, followers, calls, responses).
"""
