"""The workspace: projects, documents, their update logs, users' tokens; domain rules live here."""
