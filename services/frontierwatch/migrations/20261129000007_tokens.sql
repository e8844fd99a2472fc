-- Bearer tokens: every call but health and reflection carries one. Only a
-- SHA-256 hash of each secret is kept (secrets are 256 random bits, so a
-- fast hash is as good as a slow one and costs no CPU per call).
CREATE TABLE tokens (
    name        text PRIMARY KEY,              -- tokens/{token}
    role        text NOT NULL CHECK (role IN ('reader', 'writer', 'admin')),
    secret_hash bytea NOT NULL UNIQUE,
    create_time timestamptz NOT NULL DEFAULT now(),
    expire_time timestamptz,
    revoke_time timestamptz
);

-- Who made each change: the name of the token of the call that wrote it
-- (NULL for changes the service derives itself, such as alerts).
ALTER TABLE changes ADD COLUMN actor text;
