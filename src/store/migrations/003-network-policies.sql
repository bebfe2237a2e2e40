-- Each app's egress rules (Sprites' network policy shape), which the runtime's
-- firewall enforces; the runtime keeps its own copy so the rules hold while the
-- daemon is down, and the platform pushes these at every start.
CREATE TABLE app_network_policies (
  app_name TEXT PRIMARY KEY REFERENCES apps(name) ON DELETE CASCADE,
  rules TEXT NOT NULL,
  updated_at TEXT NOT NULL
);
