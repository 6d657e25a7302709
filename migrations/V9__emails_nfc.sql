-- Emails are compared in Unicode NFC since signup and signin normalise what people type
-- (users::Email). Addresses stored before that, in another form ("e" + combining acute for
-- "é"), could no longer be signed in to, and their NFC twin could sign up as a second account.
-- They are rewritten in NFC; two accounts that would then share an address are reported, and
-- nothing changes until someone decides which keeps it.
DO $$
DECLARE
    clashes text;
BEGIN
    SELECT string_agg(format('%s is the address of accounts %s', address, ids), '; ')
        INTO clashes
        FROM (SELECT lower(normalize(email, NFC)) AS address,
                     string_agg(id::text, ', ' ORDER BY created_at) AS ids
                FROM users WHERE password_hash IS NOT NULL
                GROUP BY 1 HAVING count(*) > 1) AS clash;
    IF clashes IS NOT NULL THEN
        RAISE EXCEPTION 'accounts whose emails differ only in Unicode normalisation would share one address'
            USING ERRCODE = 'unique_violation',
                  DETAIL = clashes,
                  HINT = 'Decide which account keeps the address; give the other a different email '
                         '(UPDATE users SET email = ... WHERE id = ...) or delete it, then run make migrate again.';
    END IF;
END
$$;

UPDATE users SET email = normalize(email, NFC) WHERE email IS NOT NFC NORMALIZED;
