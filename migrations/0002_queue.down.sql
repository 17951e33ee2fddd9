-- 0002_queue (down): reverse order of the up file; drops every queued and dead-lettered message
drop function :WORLD_SCHEMA.finish_delivery(text, bigint, text, bigint, text, boolean);
drop table :WORLD_SCHEMA.run_redrives;
drop table :WORLD_SCHEMA.run_leases;
drop table :WORLD_SCHEMA.messages;
