-- 0003_streams (down): reverse order of the up file; destroys every stream and its chunks
drop index :WORLD_SCHEMA.stream_chunks_stream_name_idx_idx;
drop table :WORLD_SCHEMA.stream_chunks;
drop index :WORLD_SCHEMA.streams_health_check_idx;
drop index :WORLD_SCHEMA.streams_run_id_idx;
drop table :WORLD_SCHEMA.streams;
