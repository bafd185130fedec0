"""Notifications: stored first, then delivered live after the commit to the user's sockets.

Rules every notification follows: never for something the recipient cannot see, never to
the actor about their own action, never from a project the recipient muted; a burst on
one object (same user, event and object, still unread, within ``GROUP_WINDOW``) is one
entry whose ``count`` grows and whose ``reason`` says the latest.

``selectors`` reads the inbox; ``services`` sends (``notification_send`` and one hook per
domain event), marks read or done, and sets mutes and interests.
"""
