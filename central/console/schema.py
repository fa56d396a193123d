"""Tables of the operator console, one schema migration (see ``central/store.py``).

Self-contained on purpose: ``store.MIGRATIONS`` appends this list, and renumbering it
on a merge means moving one name. Every statement is idempotent.

- ``operators``: accounts of the people who run the fleet (not kiosks): an argon2 hash,
  a role (viewer or admin), wrong-password count and lockout time.
- ``operator_sessions``: a session is stored as the SHA-256 of its cookie token (a
  database dump does not log anybody in), with its CSRF token and expiry.
- ``kiosk_service``: kiosks an admin marked out of service.
"""

CONSOLE_SCHEMA = [
    """CREATE TABLE IF NOT EXISTS operators (
        name TEXT PRIMARY KEY,
        password_hash TEXT NOT NULL,
        role TEXT NOT NULL,
        failures INTEGER NOT NULL DEFAULT 0,
        locked_until DOUBLE PRECISION NOT NULL DEFAULT 0,
        created_at DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS operator_sessions (
        token_hash TEXT PRIMARY KEY,
        name TEXT NOT NULL,
        csrf TEXT NOT NULL,
        expires_at DOUBLE PRECISION NOT NULL)""",
    """CREATE TABLE IF NOT EXISTS kiosk_service (
        kiosk_id TEXT PRIMARY KEY,
        out_of_service INTEGER NOT NULL,
        set_by TEXT NOT NULL,
        set_at DOUBLE PRECISION NOT NULL)""",
]
CONSOLE_SCHEMA += [
    # the receipt-number lookup and the charts' time windows, at a million enrollments
    "CREATE INDEX IF NOT EXISTS enrollments_receipt_no ON enrollments (receipt_no)",
    "CREATE INDEX IF NOT EXISTS applications_created_at ON applications (created_at)",
]
# v6: the charts count registrations of the other procedures too (issue 13, the procedure
# dimension), through their time like applications'.
CONSOLE_SCHEMA_V2 = [
    "CREATE INDEX IF NOT EXISTS registrations_created_at ON registrations (created_at)",
]
