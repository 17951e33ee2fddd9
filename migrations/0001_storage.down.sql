-- 0001_storage (down): reverse order of the up file; destroys every run, step, hook, wait and event
drop type :WORLD_SCHEMA.event_outcome;
drop table :WORLD_SCHEMA.waits;
drop table :WORLD_SCHEMA.hooks;
drop table :WORLD_SCHEMA.steps;
drop table :WORLD_SCHEMA.events;
drop table :WORLD_SCHEMA.runs;
