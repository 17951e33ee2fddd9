-- 0005_delivery_outbox (down): reverse order of the up file
drop function :WORLD_SCHEMA.complete_delivery(text, bigint, text, bigint, text, boolean, text[], text[], text[], text[], text[], text[], text[], bigint[], bigint, int, bigint, text[], text, int);
drop function :WORLD_SCHEMA.claim_deliveries(int, bigint, text[], text, int);
drop function :WORLD_SCHEMA.claim_messages(int, bigint, text[], text);
