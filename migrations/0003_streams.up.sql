-- 0003_streams: stream chunks with gap-free per-stream indexes, one row per stream
--
-- Every write (writeToStream, writeToStreamMulti, closeStream) is one call of
-- append_stream_chunks (migrations/definitions/streams.sql). Readers page chunks by
-- (stream_name, idx) and read the stream's length and end from the same statement, hence from
-- the same snapshot.

create table :WORLD_SCHEMA.streams (
  stream_name text primary key,
  -- no foreign key to runs: health checks write streams under a fabricated run id with no run row
  run_id      text not null,
  -- data chunks written so far (tailIndex + 1): the next chunk's index, taken under the row lock
  next_idx    bigint not null default 0,
  -- the end-of-stream marker; once set, writes are ignored
  closed_at   timestamptz,
  created_at  timestamptz not null default now(),
  updated_at  timestamptz not null default now()
);
create index streams_run_id_idx on :WORLD_SCHEMA.streams (run_id, stream_name);  -- listStreamsByRunId
-- Health-check streams expire (docs/world-contract.md §8): serves the expiry in
-- append_stream_chunks. Keyed on stream_name, which is never updated, so that the appends'
-- updates of next_idx and updated_at stay HOT (keyed on updated_at, every append added an entry
-- to every index of streams: ~20% fewer tiny appends per second in pgbench). The expiry checks
-- updated_at on the rows it finds; there are few, since they expire after 10 minutes.
create index streams_health_check_idx on :WORLD_SCHEMA.streams (stream_name)
  where starts_with(stream_name, '__health_check__');

create table :WORLD_SCHEMA.stream_chunks (
  stream_name text   not null,
  -- chnk_<ULID> minted by the writer; a write retried after a lost reply is recognised by it
  chunk_id    text   not null,
  -- 0-based position among the stream's data chunks; the order readers deliver
  idx         bigint not null,
  data        bytea  not null,
  primary key (stream_name, chunk_id)
);
-- readers' and getStreamChunks' keyset pages (idx >= next order by idx); also proves gap-free
-- indexes are unique
create unique index stream_chunks_stream_name_idx_idx on :WORLD_SCHEMA.stream_chunks (stream_name, idx);

-- Chunks are compressed with lz4 rather than pglz where the server has lz4 (the PGDG and Debian
-- packages do): pglz spent ~0.2 ms on a compressible 64 KiB chunk, lz4 ~0.01 ms; incompressible
-- chunks cost the same with either.
do $$
begin
  alter table :WORLD_SCHEMA.stream_chunks alter column data set compression lz4;
exception when feature_not_supported then
  null; -- a server built without lz4: chunks keep the default compression
end $$;
