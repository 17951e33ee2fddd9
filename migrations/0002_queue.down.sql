-- 0002_queue (down): reverse order of the up file; drops every queued and dead-lettered message
drop table :WORLD_SCHEMA.run_redrives;
drop table :WORLD_SCHEMA.run_leases;
drop table :WORLD_SCHEMA.messages;
