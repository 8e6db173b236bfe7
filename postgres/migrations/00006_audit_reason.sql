-- Why a request was not allowed, beside the decision: a reason such as
-- unknown_key, revoked, expired or batch_too_large (see mcpgate.Reason*).

-- +goose Up
ALTER TABLE audit_events ADD COLUMN reason text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE audit_events DROP COLUMN reason;
