-- 0006_stream_write_cost (down): the default compression and the updated_at index again
alter table :WORLD_SCHEMA.stream_chunks alter column data set compression default;
drop index :WORLD_SCHEMA.streams_health_check_idx;
create index streams_health_check_idx on :WORLD_SCHEMA.streams (updated_at)
  where starts_with(stream_name, '__health_check__');
