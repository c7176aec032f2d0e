-- API tokens may be limited to some of their user's permissions: a JSON array
-- of permission names; NULL means everything the user may do.
ALTER TABLE api_tokens ADD COLUMN scopes TEXT;
