-- App secrets (Fly's /v1/apps/{app}/secrets): every change is a new row under the app's next
-- version, so a machine bound to version N (machines.secrets_version, set at create and update)
-- gets each name's newest row at or below N, as Fly gives a machine the secrets current when it
-- was created or updated. `value` is AES-256-GCM ciphertext under <data-dir>/secrets-key, which
-- lives outside this database; a NULL value marks an unset. `digest` is keyed (HMAC), so it cannot
-- be checked against guesses without the key. Rows no live machine can need are pruned.
CREATE TABLE app_secrets (
  app_name TEXT NOT NULL REFERENCES apps(name) ON DELETE CASCADE,
  name TEXT NOT NULL,
  version INTEGER NOT NULL,
  value BLOB,
  digest TEXT,
  created_at TEXT NOT NULL,
  updated_at TEXT NOT NULL,
  PRIMARY KEY (app_name, name, version)
);
-- The app's secrets version: 0 until the first change.
ALTER TABLE apps ADD COLUMN secrets_version INTEGER NOT NULL DEFAULT 0;
-- The version a machine was given at its create or last update; NULL: created with skip_secrets.
ALTER TABLE machines ADD COLUMN secrets_version INTEGER DEFAULT 0;
