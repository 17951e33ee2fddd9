-- 0006_stream_write_cost: cheaper stream appends; nothing stored, read or returned changes
--
-- Every append updates its stream's row (next_idx, updated_at). streams_health_check_idx was
-- keyed on updated_at, and an update that changes an indexed column cannot be HOT: each append
-- added an entry to every index of streams. Keyed on stream_name, which is never updated, the
-- appends' updates are HOT (~20% more tiny appends per second in pgbench). The health-check
-- expiry in append_stream_chunks still finds its streams through this partial index and checks
-- updated_at on their rows; there are few of them, since they expire after 10 minutes.
drop index :WORLD_SCHEMA.streams_health_check_idx;
create index streams_health_check_idx on :WORLD_SCHEMA.streams (stream_name)
  where starts_with(stream_name, '__health_check__');

-- Chunks are compressed with lz4 rather than pglz where the server has lz4 (the PGDG and Debian
-- packages do): pglz spent ~0.2 ms on a compressible 64 KiB chunk, lz4 ~0.01 ms; incompressible
-- chunks cost the same with either. Chunks stored before keep pglz and stay readable.
do $$
begin
  alter table :WORLD_SCHEMA.stream_chunks alter column data set compression lz4;
exception when feature_not_supported then
  null; -- a server built without lz4: chunks keep the default compression
end $$;
