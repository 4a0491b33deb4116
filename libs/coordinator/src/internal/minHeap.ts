/**
 * A binary min-heap keyed by a number. The cut finder keeps requirements on versions that do not
 * exist yet in one per worker, so a report resolves exactly the ones it satisfies (pop while
 * key <= version) instead of scanning them all.
 */
export class MinHeap<A> {
  private items: Array<A> = []

  constructor(private readonly key: (a: A) => number) {}

  get size(): number {
    return this.items.length
  }

  peek(): A | undefined {
    return this.items[0]
  }

  push(item: A): void {
    const items = this.items
    items.push(item)
    let i = items.length - 1
    const k = this.key(item)
    while (i > 0) {
      const parent = (i - 1) >> 1
      if (this.key(items[parent]!) <= k) break
      items[i] = items[parent]!
      i = parent
    }
    items[i] = item
  }

  pop(): A | undefined {
    const items = this.items
    const top = items[0]
    const last = items.pop()
    if (items.length === 0 || last === undefined) return top
    const k = this.key(last)
    let i = 0
    for (;;) {
      const l = 2 * i + 1
      if (l >= items.length) break
      const r = l + 1
      const child = r < items.length && this.key(items[r]!) < this.key(items[l]!) ? r : l
      if (this.key(items[child]!) >= k) break
      items[i] = items[child]!
      i = child
    }
    items[i] = last
    return top
  }

  /** Pops every item whose key is at most `bound`, smallest first. */
  popUpTo(bound: number): Array<A> {
    const out: Array<A> = []
    while (this.items.length > 0 && this.key(this.items[0]!) <= bound) out.push(this.pop()!)
    return out
  }

  clear(): void {
    this.items = []
  }
}
