-- Queries of the legal holds' read table (export_holds), written by the projection.

-- name: place_holds
-- Record placed holds (one array element per hold); a hold already there is left as it is.
INSERT INTO export_holds (hold_id, export_id, user_id, matter, reason, placed_by, placed_at,
                          position)
SELECT * FROM unnest(%(hold_id)s::text[], %(export_id)s::text[], %(user_id)s::text[],
                     %(matter)s::text[], %(reason)s::text[], %(placed_by)s::text[],
                     %(placed_at)s::timestamptz[], %(position)s::bigint[])
ON CONFLICT (hold_id) DO NOTHING;

-- name: release_holds
-- Mark holds released (one array element per hold), once.
UPDATE export_holds AS h
SET released_by = r.released_by, released_at = r.released_at, position = r.position
FROM unnest(%(hold_id)s::text[], %(released_by)s::text[], %(released_at)s::timestamptz[],
            %(position)s::bigint[]) AS r (hold_id, released_by, released_at, position)
WHERE h.hold_id = r.hold_id AND h.released_at IS NULL;
