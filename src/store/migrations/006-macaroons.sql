-- Macaroon tokens (src/auth): the token string is never stored, only its id (the
-- nonce inside it) and what was asked for. Verifying needs the root key, which lives in
-- <data-dir>/token-key, outside this database. A revoked row stays so a revoked token
-- reads as revoked; revoking a token revokes the tokens minted from it (parent_id).
CREATE TABLE macaroons (
  id TEXT PRIMARY KEY,
  parent_id TEXT REFERENCES macaroons(id),
  description TEXT NOT NULL DEFAULT '',
  caveats TEXT NOT NULL,
  created_at TEXT NOT NULL,
  last_used_at TEXT,
  revoked_at TEXT
);
CREATE INDEX macaroons_parent ON macaroons(parent_id);
