/**
 * Admission of WebRTC sessions (WHIP publishes, WHEP viewers) on one node: caps on the node's
 * total and on one client address, counting the sessions already established AND those being
 * set up (an offer between its checks and its answer, which awaits database reads and ICE/DTLS
 * preparation). Without the second count, simultaneous offers from one address would all pass
 * the cap before any of them is established. Bookkeeping only: no I/O, no timers.
 */

/** Why an offer was not admitted: the node is full, or its address has as many sessions as allowed. */
export type AdmissionRefusal = 'node' | 'address';

/** A reserved slot; `release()` (idempotent) returns it when the setup ends, answered or not. */
export interface AdmissionSlot {
  release(): void;
}

/** See the module comment. */
export interface SessionAdmission {
  /**
   * Reserves a slot for an offer from `address` when the node has fewer than `maxSessions`
   * established plus in-setup sessions and the address fewer than `maxPerAddress`; else the refusal.
   */
  reserve(address: string): AdmissionSlot | AdmissionRefusal;
  /** Offers being set up now (for metrics and tests). */
  inSetup(): number;
}

/**
 * Creates the admission of one endpoint.
 * @param limits `maxSessions` (node) and `maxPerAddress`, each >= 1.
 * @param established the addresses of the sessions established now, one entry per session
 *   (read on every reservation, so the endpoint's own map stays the one source).
 */
export function createSessionAdmission(limits: { readonly maxSessions: number; readonly maxPerAddress: number }, established: () => Iterable<string>): SessionAdmission {
  const setup = new Map<string, number>();
  let setupTotal = 0;
  return {
    reserve(address) {
      const live = [...established()];
      if (live.length + setupTotal >= limits.maxSessions) return 'node';
      if ((setup.get(address) ?? 0) + live.filter((a) => a === address).length >= limits.maxPerAddress) return 'address';
      setup.set(address, (setup.get(address) ?? 0) + 1);
      setupTotal++;
      let released = false;
      return {
        release() {
          if (released) return;
          released = true;
          setupTotal--;
          const n = (setup.get(address) ?? 1) - 1;
          if (n > 0) setup.set(address, n);
          else setup.delete(address);
        },
      };
    },
    inSetup: () => setupTotal,
  };
}
