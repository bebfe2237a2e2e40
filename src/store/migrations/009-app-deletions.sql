-- When an app name was last deleted. Tokens name apps, and a name can be taken again by a new
-- app: an apps caveat stops reaching a name whose app was deleted after the caveat was made
-- (src/auth/caveats.ts, `as_of`), so a token for the old app never reaches the new one.
CREATE TABLE app_deletions (
  name TEXT PRIMARY KEY,
  deleted_at TEXT NOT NULL
);
