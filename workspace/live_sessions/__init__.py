"""Live sessions: a lead runs a working session in the project room.

The session row and its participants are stored; spotlight and follow are room events.
The session record (participants, duration, documents touched, snapshots and calls made
during it) is computed from the time window.

Not Django's sessions: these are working sessions of people in a project room.
"""
