-- Throttle keys are now stored as `<kind>:<HMAC of the email or address>`, no longer in clear
-- (see shared/src/throttle.rs). Their counts last an hour at most; the clear ones are dropped
-- rather than kept unreadable until the prune finds them.
DELETE FROM throttles;
