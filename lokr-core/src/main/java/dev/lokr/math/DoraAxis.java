package dev.lokr.math;

/** Along which axis DoRA normalises the adapted weight. */
public enum DoraAxis {
    /** No weight decomposition. */
    NONE,
    /** One magnitude per output row; the norm runs over the input (and kernel) dims. LyCORIS's default ({@code wd_on_out}). */
    OUTPUT,
    /** One magnitude per input column; the norm runs over the output (and kernel) dims. */
    INPUT
}
