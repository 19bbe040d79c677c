"""Versioned schema migrations. Append only: never edit a migration that has shipped."""

from __future__ import annotations

MIGRATIONS: list[str] = [
    # 1: inbox, conversations, turns, users and groups
    """
    CREATE TABLE inbox (
        id INTEGER PRIMARY KEY,
        channel TEXT NOT NULL,
        platform_id TEXT NOT NULL,
        chat_key TEXT NOT NULL,
        payload TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'received',
        side_effect TEXT,
        reply TEXT,
        received_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        UNIQUE (channel, platform_id)
    );
    CREATE INDEX inbox_open ON inbox (id) WHERE status <> 'done';
    CREATE INDEX inbox_updated ON inbox (updated_at);

    CREATE TABLE conversations (
        id INTEGER PRIMARY KEY,
        chat_key TEXT NOT NULL,
        started_at REAL NOT NULL,
        ended_at REAL,
        model TEXT,
        summary TEXT,
        summary_upto INTEGER NOT NULL DEFAULT 0
    );
    CREATE UNIQUE INDEX conversations_active ON conversations (chat_key) WHERE ended_at IS NULL;

    CREATE TABLE messages (
        id INTEGER PRIMARY KEY,
        conversation_id INTEGER NOT NULL REFERENCES conversations (id) ON DELETE CASCADE,
        turn_id TEXT NOT NULL,
        role TEXT NOT NULL,
        content TEXT NOT NULL DEFAULT '',
        tool_calls TEXT,
        tool_call_id TEXT,
        name TEXT,
        tokens INTEGER NOT NULL DEFAULT 0,
        created_at REAL NOT NULL
    );
    CREATE INDEX messages_conversation ON messages (conversation_id, id);

    CREATE TABLE turns (
        turn_id TEXT PRIMARY KEY,
        conversation_id INTEGER NOT NULL,
        chat_key TEXT NOT NULL,
        inbox_id INTEGER,
        provider TEXT,
        prompt_tokens INTEGER NOT NULL DEFAULT 0,
        completion_tokens INTEGER NOT NULL DEFAULT 0,
        steps INTEGER NOT NULL DEFAULT 0,
        status TEXT NOT NULL,
        started_at REAL NOT NULL,
        finished_at REAL
    );
    CREATE INDEX turns_started ON turns (started_at);
    CREATE INDEX turns_conversation ON turns (conversation_id);

    CREATE TABLE users (
        channel TEXT NOT NULL,
        user_id TEXT NOT NULL,
        role TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        granted_by TEXT NOT NULL DEFAULT '',
        granted_at REAL NOT NULL,
        PRIMARY KEY (channel, user_id)
    );

    CREATE TABLE groups (
        channel TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        granted_by TEXT NOT NULL DEFAULT '',
        granted_at REAL NOT NULL,
        PRIMARY KEY (channel, chat_id)
    );
    """,
    # 2: pairing requests and the record of access changes
    """
    CREATE TABLE pairing (
        code TEXT PRIMARY KEY,
        channel TEXT NOT NULL,
        user_id TEXT NOT NULL,
        name TEXT NOT NULL DEFAULT '',
        chat_id TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        UNIQUE (channel, user_id)
    );

    CREATE TABLE access_changes (
        id INTEGER PRIMARY KEY,
        at REAL NOT NULL,
        actor TEXT NOT NULL,
        action TEXT NOT NULL,
        channel TEXT NOT NULL,
        subject TEXT NOT NULL,
        role TEXT,
        detail TEXT NOT NULL DEFAULT ''
    );
    """,
    # 3: the hash-chained audit log, and approval requests
    """
    CREATE TABLE audit (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        at REAL NOT NULL,
        kind TEXT NOT NULL,
        actor TEXT NOT NULL,
        data TEXT NOT NULL,
        prev TEXT NOT NULL,
        hash TEXT NOT NULL
    );

    CREATE TABLE approvals (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        requester TEXT NOT NULL,
        requester_name TEXT NOT NULL DEFAULT '',
        chat TEXT NOT NULL,
        hosts TEXT NOT NULL,
        command TEXT NOT NULL,
        reason TEXT NOT NULL DEFAULT '',
        status TEXT NOT NULL DEFAULT 'pending',
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL,
        decided_at REAL,
        decided_by TEXT,
        messages TEXT NOT NULL DEFAULT '[]'
    );
    CREATE INDEX approvals_pending ON approvals (id) WHERE status = 'pending';
    """,
    # 4: jobs: reminders, scheduled agent turns and monitoring checks (issue 6). APScheduler keeps
    # only triggers (jobs.db); what a job does lives here, so renaming code never loses a job.
    """
    CREATE TABLE jobs (
        id TEXT PRIMARY KEY,
        channel TEXT NOT NULL,
        chat_id TEXT NOT NULL,
        is_group INTEGER NOT NULL DEFAULT 0,
        thread_id TEXT,
        user_id TEXT NOT NULL,
        user_name TEXT NOT NULL DEFAULT '',
        timezone TEXT NOT NULL,
        schedule TEXT NOT NULL,
        task TEXT NOT NULL,
        status TEXT NOT NULL DEFAULT 'active',
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        runs INTEGER NOT NULL DEFAULT 0,
        last_run_at REAL,
        last_due REAL,
        run_requested_at REAL,
        check_state TEXT NOT NULL DEFAULT 'ok',
        check_value REAL,
        last_alert_at REAL
    );
    CREATE INDEX jobs_status ON jobs (status, channel);
    CREATE INDEX jobs_user ON jobs (channel, user_id, status);
    """,
    # 5: platform event ids already handled (platforms that redeliver under a new envelope)
    """
    CREATE TABLE seen_events (
        channel TEXT NOT NULL,
        event_id TEXT NOT NULL,
        seen_at REAL NOT NULL,
        PRIMARY KEY (channel, event_id)
    ) WITHOUT ROWID;
    CREATE INDEX seen_events_at ON seen_events (seen_at);
    """,
    # 6: approvers' second factor (TOTP): one secret per person, and the last time step used
    """
    CREATE TABLE totp (
        principal TEXT PRIMARY KEY,
        secret TEXT NOT NULL,
        created_at REAL NOT NULL,
        last_step INTEGER NOT NULL DEFAULT 0
    ) WITHOUT ROWID;
    """,
    # 7: whose turn it was (daily token budgets per person); message age (retention)
    """
    ALTER TABLE turns ADD COLUMN sender TEXT;
    CREATE INDEX messages_created ON messages (created_at);
    """,
    # 8: the delivery log (each part of a reply, recorded when the platform acknowledges it),
    # dead letters (input that could not be parsed or recorded), the bot in the inbox identity
    # (NULL: recorded before it was kept) and the format of the stored reply
    """
    ALTER TABLE inbox ADD COLUMN bot TEXT;
    ALTER TABLE inbox ADD COLUMN reply_format TEXT;

    CREATE TABLE deliveries (
        inbox_id INTEGER NOT NULL REFERENCES inbox (id) ON DELETE CASCADE,
        part INTEGER NOT NULL,
        state TEXT NOT NULL,
        message_id TEXT,
        at REAL NOT NULL,
        PRIMARY KEY (inbox_id, part)
    ) WITHOUT ROWID;

    CREATE TABLE dead_letters (
        id INTEGER PRIMARY KEY,
        channel TEXT NOT NULL,
        bot TEXT NOT NULL DEFAULT '',
        source TEXT NOT NULL,
        ref TEXT,
        payload TEXT NOT NULL,
        error TEXT NOT NULL,
        attempts INTEGER NOT NULL DEFAULT 1,
        created_at REAL NOT NULL,
        updated_at REAL NOT NULL,
        retry_requested_at REAL
    );
    CREATE INDEX dead_letters_retry ON dead_letters (id) WHERE retry_requested_at IS NOT NULL;
    """,
    # 9: each person's language and time zone (/lang, /tz); NULL: not chosen
    """
    CREATE TABLE person_settings (
        person TEXT PRIMARY KEY,
        language TEXT,
        timezone TEXT,
        updated_at REAL NOT NULL
    ) WITHOUT ROWID;
    """,
    # 10: the jobs table is the scheduler's only store (issue 14): each active job's next fire
    # time (seconds since the epoch; NULL: not planned yet, e.g. a job of an earlier version,
    # whose time the scheduler takes from the old APScheduler file or its schedule at start)
    """
    ALTER TABLE jobs ADD COLUMN next_fire REAL;
    CREATE INDEX jobs_next_fire ON jobs (next_fire) WHERE status = 'active';
    """,
    # 11: the console (issue 16): per-person tokens (sha256 of the token), sessions (sha256 of
    # the cookie), and what was sent to each console chat, so a client that reconnects (or
    # comes back after a restart) gets what it missed
    """
    CREATE TABLE console_tokens (
        id INTEGER PRIMARY KEY,
        name TEXT NOT NULL UNIQUE,
        role TEXT NOT NULL,
        hash TEXT NOT NULL UNIQUE,
        created_by TEXT NOT NULL,
        created_at REAL NOT NULL,
        last_used_at REAL
    );
    CREATE TABLE console_sessions (
        hash TEXT PRIMARY KEY,
        person TEXT NOT NULL,
        csrf TEXT NOT NULL,
        created_at REAL NOT NULL,
        expires_at REAL NOT NULL
    ) WITHOUT ROWID;
    CREATE TABLE console_events (
        id INTEGER PRIMARY KEY,
        chat TEXT NOT NULL,
        kind TEXT NOT NULL,
        message_id TEXT NOT NULL,
        body TEXT NOT NULL,
        at REAL NOT NULL
    );
    CREATE INDEX console_events_chat ON console_events (chat, id);
    """,
    # 12: WhatsApp's 24-hour window (issue 19): when each person last wrote to a phone number
    # (free-form replies are allowed for 24 hours after it), and what could not be delivered
    """
    CREATE TABLE reply_windows (
        channel TEXT NOT NULL,
        bot TEXT NOT NULL,
        person TEXT NOT NULL,
        last_inbound REAL NOT NULL,
        undelivered INTEGER NOT NULL DEFAULT 0,
        last_undelivered REAL,
        PRIMARY KEY (channel, bot, person)
    ) WITHOUT ROWID;
    """,
    # 13: pictures and files (issues 18, 19): those a stored reply carries, kept until it is
    # delivered (a restart sends what was not acknowledged), and those sent to a console chat,
    # which its clients download (bounded: the oldest go first)
    """
    CREATE TABLE reply_files (
        inbox_id INTEGER NOT NULL REFERENCES inbox (id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        name TEXT NOT NULL,
        mime_type TEXT NOT NULL,
        kind TEXT NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (inbox_id, idx)
    );
    CREATE TABLE console_files (
        id TEXT PRIMARY KEY,
        chat TEXT NOT NULL,
        name TEXT NOT NULL,
        mime_type TEXT NOT NULL,
        kind TEXT NOT NULL,
        size INTEGER NOT NULL,
        data BLOB NOT NULL,
        at REAL NOT NULL
    );
    CREATE INDEX console_files_at ON console_files (at);
    """,
    # 14: alerts (issue 18): one row per firing of a condition (its key), from fired to resolved:
    # routes reached so far, when the next is due, who acknowledged it, a notice still to send
    # (resolve, ack); and the maintenance windows (silences) that hold alerts back
    """
    CREATE TABLE alerts (
        id INTEGER PRIMARY KEY,
        key TEXT NOT NULL,
        severity TEXT NOT NULL,
        status TEXT NOT NULL,
        title TEXT NOT NULL,
        detail TEXT NOT NULL,
        host TEXT,
        source TEXT NOT NULL,
        params TEXT,
        fired_at REAL NOT NULL,
        notified INTEGER NOT NULL DEFAULT 0,
        next_at REAL,
        held_by TEXT,
        acked_by TEXT,
        acked_at REAL,
        resolved_at REAL,
        resolve_detail TEXT,
        pending TEXT
    );
    CREATE UNIQUE INDEX alerts_open ON alerts (key) WHERE status <> 'resolved';
    CREATE INDEX alerts_key ON alerts (key, id);
    CREATE TABLE alert_silences (
        id INTEGER PRIMARY KEY,
        pattern TEXT NOT NULL,
        until REAL NOT NULL,
        created_by TEXT NOT NULL,
        created_at REAL NOT NULL,
        ended_at REAL
    );
    """,
    # 15: host metrics (issue 18): one row per (host, metric) series, and its samples in three
    # tiers — 0 raw (kept 24 h), 1 five-minute averages (7 days), 2 hourly averages (90 days);
    # monitor_rollups says up to where each tier has been computed from the one below
    """
    CREATE TABLE monitor_series (
        id INTEGER PRIMARY KEY,
        host TEXT NOT NULL,
        metric TEXT NOT NULL,
        UNIQUE (host, metric)
    );
    CREATE TABLE monitor_samples (
        series INTEGER NOT NULL,
        tier INTEGER NOT NULL,
        at INTEGER NOT NULL,
        value REAL NOT NULL,
        PRIMARY KEY (series, tier, at)
    ) WITHOUT ROWID;
    CREATE TABLE monitor_rollups (
        tier INTEGER PRIMARY KEY,
        upto INTEGER NOT NULL
    );
    """,
    # 16: the pictures an alert carries (the chart of the window that fired it), kept with the
    # alert while it may still escalate, so an escalation after a restart has its chart too;
    # bounded per alert (alerts.state.MAX_FILES, MAX_FILE_BYTES), gone at ack or resolve
    """
    CREATE TABLE alert_files (
        alert_id INTEGER NOT NULL REFERENCES alerts (id) ON DELETE CASCADE,
        idx INTEGER NOT NULL,
        name TEXT NOT NULL,
        mime_type TEXT NOT NULL,
        kind TEXT NOT NULL,
        data BLOB NOT NULL,
        PRIMARY KEY (alert_id, idx)
    );
    """,
]
