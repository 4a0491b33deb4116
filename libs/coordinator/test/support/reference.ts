/**
 * Reference models of the committed cut, written for clarity, not speed: a brute force over every
 * prefix combination (tiny instances only) and the plain greatest-fixpoint iteration.
 */
export interface Report {
  readonly worker: number
  readonly version: number
  readonly deps: ReadonlyArray<readonly [number, number]>
}

const chainsOf = (base: ReadonlyMap<number, number>, reports: ReadonlyArray<Report>) => {
  const chains = new Map<number, Array<Report>>()
  for (const w of base.keys()) chains.set(w, [])
  for (const r of reports) {
    if (!chains.has(r.worker)) chains.set(r.worker, [])
    if (r.version <= (base.get(r.worker) ?? 0)) continue
    const chain = chains.get(r.worker)!
    if (!chain.some((x) => x.version === r.version)) chain.push(r)
  }
  for (const chain of chains.values()) chain.sort((a, b) => a.version - b.version)
  return chains
}

const closed = (cut: ReadonlyMap<number, number>, chains: ReadonlyMap<number, ReadonlyArray<Report>>) => {
  for (const [w, chain] of chains) {
    for (const r of chain) {
      if (r.version > cut.get(w)!) break
      for (const [x, u] of r.deps) if ((cut.get(x) ?? 0) < u) return false
    }
  }
  return true
}

/** The pointwise maximum of all closed prefix combinations (it is itself closed). */
export const bruteForce = (base: ReadonlyMap<number, number>, reports: ReadonlyArray<Report>): Map<number, number> => {
  const chains = chainsOf(base, reports)
  const workers = [...chains.keys()]
  const best = new Map(workers.map((w) => [w, base.get(w) ?? 0]))
  const lengths = workers.map(() => 0)
  for (;;) {
    const cut = new Map(
      workers.map((w, i) => [w, lengths[i]! === 0 ? (base.get(w) ?? 0) : chains.get(w)![lengths[i]! - 1]!.version])
    )
    if (closed(cut, chains)) for (const [w, v] of cut) if (v > best.get(w)!) best.set(w, v)
    let i = 0
    while (i < workers.length && lengths[i] === chains.get(workers[i]!)!.length) lengths[i++] = 0
    if (i === workers.length) break
    lengths[i]!++
  }
  if (!closed(best, chains)) throw new Error("the union of closed cuts is not closed: reference bug")
  return best
}

/** Start from the highest report of every worker and lower below the first unmet version until stable. */
export const naiveFixpoint = (base: ReadonlyMap<number, number>, reports: ReadonlyArray<Report>): Map<number, number> => {
  const chains = chainsOf(base, reports)
  const cand = new Map([...chains].map(([w, c]) => [w, c.at(-1)?.version ?? base.get(w) ?? 0]))
  for (let changed = true; changed; ) {
    changed = false
    for (const [w, chain] of chains) {
      for (let i = 0; i < chain.length; i++) {
        const r = chain[i]!
        if (r.version > cand.get(w)!) break
        if (r.deps.some(([x, u]) => (cand.get(x) ?? 0) < u)) {
          cand.set(w, i === 0 ? (base.get(w) ?? 0) : chain[i - 1]!.version)
          changed = true
          break
        }
      }
    }
  }
  return cand
}
