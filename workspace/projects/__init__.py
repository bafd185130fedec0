"""Projects, their members, users' settings and API tokens.

``selectors`` answers who may do what in a project (roles, room access) and lists
projects; ``services`` creates projects, sets members and issues tokens; ``tokens`` is the
token format and its hash.
"""
