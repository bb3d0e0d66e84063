-- Curation state: users and their credentials, change records with review, releases, audit log.
-- Portable SQL; {id} is the dialect's auto-numbered primary key. Times are ISO 8601 UTC text
-- ("2024-05-30T12:00:00.000000Z"), which sorts and compares correctly in both databases.

CREATE TABLE users (
  id {id},
  name TEXT NOT NULL UNIQUE,
  role TEXT NOT NULL,
  created_at TEXT NOT NULL,
  created_by TEXT NOT NULL,
  disabled INTEGER NOT NULL DEFAULT 0,
  version INTEGER NOT NULL DEFAULT 1
);

CREATE TABLE api_tokens (
  id {id},
  user_id BIGINT NOT NULL REFERENCES users(id),
  token_hash TEXT NOT NULL UNIQUE,
  label TEXT,
  created_at TEXT NOT NULL,
  revoked_at TEXT
);

CREATE TABLE sessions (
  id {id},
  user_id BIGINT NOT NULL REFERENCES users(id),
  session_hash TEXT NOT NULL UNIQUE,
  csrf_hash TEXT NOT NULL,
  created_at TEXT NOT NULL,
  expires_at TEXT NOT NULL
);

CREATE TABLE changes (
  id {id},
  kind TEXT NOT NULL,
  target TEXT NOT NULL,
  field TEXT NOT NULL,
  payload TEXT NOT NULL,
  reason TEXT NOT NULL,
  status TEXT NOT NULL,
  author_id BIGINT NOT NULL REFERENCES users(id),
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  proposed_at TEXT,
  decided_by BIGINT REFERENCES users(id),
  decided_at TEXT,
  decision_note TEXT,
  conflicts TEXT NOT NULL DEFAULT '[]',
  release_name TEXT,
  version INTEGER NOT NULL DEFAULT 1
);
CREATE INDEX changes_status ON changes(status);
CREATE INDEX changes_target ON changes(target, field);

CREATE TABLE comments (
  id {id},
  change_id BIGINT NOT NULL REFERENCES changes(id),
  author_id BIGINT NOT NULL REFERENCES users(id),
  body TEXT NOT NULL,
  created_at TEXT NOT NULL
);
CREATE INDEX comments_change ON comments(change_id);

CREATE TABLE releases (
  id {id},
  number INTEGER NOT NULL UNIQUE,
  name TEXT NOT NULL UNIQUE,
  parent TEXT,
  created_at TEXT NOT NULL,
  created_by TEXT NOT NULL,
  change_ids TEXT NOT NULL DEFAULT '[]'
);

CREATE TABLE audit_log (
  id {id},
  at TEXT NOT NULL,
  actor TEXT NOT NULL,
  action TEXT NOT NULL,
  object_type TEXT NOT NULL,
  object_id TEXT NOT NULL,
  client TEXT,
  detail TEXT NOT NULL DEFAULT '{}'
);
CREATE INDEX audit_log_at ON audit_log(at);
CREATE INDEX audit_log_actor ON audit_log(actor, at);
CREATE INDEX audit_log_object ON audit_log(object_type, object_id, at);
