-- 0004_run_started_log (down): drops the function; nothing else was created
drop function :WORLD_SCHEMA.append_run_started_log(text, int, boolean, text, text, bytea, bytea, int);
