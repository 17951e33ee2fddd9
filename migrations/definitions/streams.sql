-- requires: 0003
-- Stream writes: every writeToStream, writeToStreamMulti and closeStream is one call of
-- append_stream_chunks. It locks the stream's row, takes the next indexes, inserts the chunks,
-- records the end of stream and sends a NOTIFY carrying ids only, in the statement's own
-- transaction (one round trip, all or nothing).

-- Appends p_lengths.length chunks (cut in order from p_data_base64, the chunks' bytes
-- concatenated and base64-encoded: see src/streamer/write.ts) and, with p_close, ends the stream.
-- outcome: 'ok', 'closed' (the stream had ended: nothing written) or 'duplicate' (this write's
-- first chunk id is already stored: a retry of a write that committed).
create or replace function :WORLD_SCHEMA.append_stream_chunks(
  p_stream_name text, p_run_id text, p_chunk_ids text[], p_data_base64 text, p_lengths int[],
  p_close boolean, p_channel text, p_notify_key text, out outcome text)
language plpgsql as $$
declare
  v_count int := coalesce(cardinality(p_lengths), 0);
  v_data bytea;
  v_next bigint;
  v_closed boolean;
begin
  -- the row lock serialises writers of one stream, so indexes follow commit order without gaps
  insert into :WORLD_SCHEMA.streams (stream_name, run_id) values (p_stream_name, p_run_id)
    on conflict (stream_name) do nothing;
  select next_idx, closed_at is not null into v_next, v_closed
    from :WORLD_SCHEMA.streams where stream_name = p_stream_name for update;
  if v_closed then
    outcome := 'closed';
    return;
  end if;
  -- checked under the lock: an earlier attempt still in flight has committed or rolled back by now
  if v_count > 0 and exists (select 1 from :WORLD_SCHEMA.stream_chunks
                              where stream_name = p_stream_name and chunk_id = p_chunk_ids[1]) then
    outcome := 'duplicate';
    return;
  end if;

  v_data := decode(p_data_base64, 'base64');

  insert into :WORLD_SCHEMA.stream_chunks (stream_name, chunk_id, idx, data)
  select p_stream_name, p_chunk_ids[part.n], v_next + part.n - 1,
         substring(v_data from (part.start + 1)::int for part.len)
    from (select n, len, sum(len) over (order by n) - len as start
            from unnest(p_lengths) with ordinality as u(len, n)) as part;

  update :WORLD_SCHEMA.streams
     set next_idx = v_next + v_count,
         closed_at = case when p_close then now() end,
         updated_at = now()
   where stream_name = p_stream_name;

  -- delivered at commit; 'i' is the last data index, so a reader waiting further ahead sleeps on
  perform pg_notify(p_channel,
    json_build_object('s', p_notify_key, 'i', v_next + v_count - 1, 'done', p_close)::text);

  if p_close and starts_with(p_stream_name, '__health_check__') then
    -- health-check streams are throwaway: each closing one removes a bounded batch of old ones
    with expired as (
      delete from :WORLD_SCHEMA.streams
       where stream_name in (select stream_name from :WORLD_SCHEMA.streams
                              where starts_with(stream_name, '__health_check__')
                                and updated_at < now() - interval '10 minutes'
                              limit 100 for update skip locked)
      returning stream_name)
    delete from :WORLD_SCHEMA.stream_chunks where stream_name in (select stream_name from expired);
  end if;
  outcome := 'ok';
end $$;
