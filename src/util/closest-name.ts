/**
 * "Did you mean …?" for names typed by hand: the known name nearest to a
 * typo by edit distance (insertions, deletions, substitutions and swaps of
 * two neighbouring letters), ignoring case, so that `memroy` finds `memory`
 * and `maxsize` finds `maxSize`.
 */

/** Edit distance between `a` and `b` (optimal string alignment: a swap of neighbours costs 1). */
export function editDistance(a: string, b: string): number {
  const rows: number[][] = [];
  for (let i = 0; i <= a.length; i++) {
    const row = [i];
    for (let j = 1; j <= b.length; j++) {
      if (i === 0) {
        row.push(j);
        continue;
      }
      const prev = rows[i - 1] as number[];
      const cost = a[i - 1] === b[j - 1] ? 0 : 1;
      let best = Math.min(
        (prev[j] as number) + 1,
        (row[j - 1] as number) + 1,
        (prev[j - 1] as number) + cost,
      );
      if (i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1]) {
        best = Math.min(best, ((rows[i - 2] as number[])[j - 2] as number) + 1);
      }
      row.push(best);
    }
    rows.push(row);
  }
  return (rows[a.length] as number[])[b.length] as number;
}

/**
 * The name in `known` closest to `typed`, or undefined when none is close
 * enough to be a likely typo: at most 2 edits, and fewer than half the
 * letters of the shorter name. Case differences alone count as a match.
 */
export function closestName(typed: string, known: Iterable<string>): string | undefined {
  const lower = typed.toLowerCase();
  let best: string | undefined;
  let bestDistance = Number.POSITIVE_INFINITY;
  for (const name of known) {
    if (name === typed) continue;
    const distance = editDistance(lower, name.toLowerCase());
    const allowed = Math.min(2, Math.floor((Math.min(lower.length, name.length) - 1) / 2));
    if (distance <= allowed && distance < bestDistance) {
      best = name;
      bestDistance = distance;
    }
  }
  return best;
}
