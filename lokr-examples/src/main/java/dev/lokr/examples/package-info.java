/**
 * Small runnable examples of lokr, each a {@code main} plus a static {@code run} method that returns
 * what it found (so a test can check it):
 * {@link dev.lokr.examples.DecomposeBothExample} (both Kronecker factors low-rank),
 * {@link dev.lokr.examples.TuckerConvExample} (Tucker factor on conv layers),
 * {@link dev.lokr.examples.ScalarExample} (trainable scalar gate),
 * {@link dev.lokr.examples.DoraExample} (weight-decomposed LoKR),
 * {@link dev.lokr.examples.PythonAdapterExample} (merge a LyCORIS adapter trained in Python) and
 * {@link dev.lokr.examples.SwitchAdaptersExample} (two task adapters on one frozen network).
 */
package dev.lokr.examples;
