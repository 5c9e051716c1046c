/**
 * Which mode a worker's clients mostly ask input files in. A blob cached in
 * one mode and wanted in the other costs a copy (hardlinks share mode bits),
 * so outputs adopted into the file cache take the mode inputs mostly have:
 * Bazel marks every input file executable, while the outputs it reads back
 * as the next actions' inputs mostly are not.
 */

/** Requests remembered before both counts are halved, to follow what clients send now. */
const WINDOW = 4096;

/** Counts recent input requests by mode. */
export class InputModeVotes {
  #executable = 0;
  #plain = 0;

  /** Counts one input file requested executable or not. */
  note(executable: boolean): void {
    if (executable) this.#executable++;
    else this.#plain++;
    if (this.#executable + this.#plain > WINDOW) {
      this.#executable >>= 1;
      this.#plain >>= 1;
    }
  }

  /** The mode most recent inputs had, or `tie` when they were evenly split (or none came). */
  preferred(tie: boolean): boolean {
    return this.#executable === this.#plain ? tie : this.#executable > this.#plain;
  }
}
