import { monotonicFactory } from 'ulid';

const nextUlid = monotonicFactory();

/** `wrun_<ULID>`: run ids minted by the World when the caller passes `null`. */
export const newRunId = (): string => `wrun_${nextUlid()}`;
/** `msg_<ULID>`: queue message ids. */
export const newMessageId = (): string => `msg_${nextUlid()}`;
/** A bare ULID, for ids whose prefix the caller owns. */
export const newUlid = (): string => nextUlid();
