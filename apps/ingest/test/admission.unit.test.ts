/**
 * Session admission (WHIP publishes, WHEP viewers): the node and per-address caps count the
 * sessions established and those still being set up, and a released slot frees its place once.
 */
import { describe, expect, it } from 'vitest';
import { createSessionAdmission, type AdmissionSlot } from '../src/admission.js';

describe('createSessionAdmission', () => {
  it('counts offers being set up against the per-address cap, so simultaneous offers cannot pass it together', () => {
    const established: string[] = [];
    const admission = createSessionAdmission({ maxSessions: 10, maxPerAddress: 2 }, () => established);
    const a = admission.reserve('192.0.2.1') as AdmissionSlot;
    const b = admission.reserve('192.0.2.1') as AdmissionSlot;
    expect(admission.reserve('192.0.2.1')).toBe('address'); // two in setup, none established yet
    expect(typeof admission.reserve('192.0.2.2')).toBe('object'); // another address is not affected
    // one setup becomes a session, the other fails: still two for the address, then one
    established.push('192.0.2.1');
    a.release();
    expect(admission.reserve('192.0.2.1')).toBe('address');
    b.release();
    b.release(); // idempotent
    expect(admission.inSetup()).toBe(1);
    expect(typeof admission.reserve('192.0.2.1')).toBe('object');
  });

  it('refuses the node when established plus in-setup sessions reach maxSessions', () => {
    const established = ['198.51.100.1', '198.51.100.2'];
    const admission = createSessionAdmission({ maxSessions: 3, maxPerAddress: 5 }, () => established);
    const slot = admission.reserve('203.0.113.9') as AdmissionSlot;
    expect(admission.reserve('203.0.113.10')).toBe('node');
    slot.release();
    expect(typeof admission.reserve('203.0.113.10')).toBe('object');
  });
});
