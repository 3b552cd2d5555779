package dev.lokr.dl4j.train;

import java.lang.ref.Reference;
import java.lang.ref.ReferenceQueue;
import java.lang.ref.WeakReference;
import java.util.HashSet;
import java.util.Objects;
import java.util.Set;

/**
 * A set of objects compared by identity ({@code ==}, not {@code equals}) that does not keep them
 * alive: an object that is no longer reachable elsewhere leaves the set. Thread-safe.
 *
 * <p>The prefetching iterators use it to apply their preprocessor once per batch object, as DL4J's
 * own iterators do with {@code isPreProcessed()}: a source such as {@code ExistingDataSetIterator}
 * returns the same batch objects every epoch, and preprocessing in place again would compound.
 *
 * @param <T> the element type
 */
final class WeakIdentitySet<T> {
    private final ReferenceQueue<T> cleared = new ReferenceQueue<>();
    private final Set<Entry<T>> entries = new HashSet<>();

    /**
     * Adds {@code element} unless this very object is already in the set.
     *
     * @param element the object
     * @return true if it was not in the set
     */
    synchronized boolean add(T element) {
        Objects.requireNonNull(element, "element");
        dropCleared();
        return entries.add(new Entry<>(element, cleared));
    }

    /**
     * @param element the object
     * @return whether this very object is in the set
     */
    synchronized boolean contains(T element) {
        Objects.requireNonNull(element, "element");
        dropCleared();
        return entries.contains(new Entry<>(element, null));
    }

    /** @return the number of entries held, cleared ones not yet dropped included (for tests) */
    synchronized int entries() {
        dropCleared();
        return entries.size();
    }

    private void dropCleared() {
        for (Reference<? extends T> r = cleared.poll(); r != null; r = cleared.poll()) {
            entries.remove(r);
        }
    }

    /** A weak reference equal to another only while both refer to the same live object (or are the same entry). */
    private static final class Entry<T> extends WeakReference<T> {
        private final int hash;

        Entry(T referent, ReferenceQueue<T> queue) {
            super(referent, queue);
            this.hash = System.identityHashCode(referent);
        }

        @Override
        public int hashCode() {
            return hash;
        }

        @Override
        public boolean equals(Object o) {
            if (this == o) {
                return true;
            }
            if (!(o instanceof Entry<?> other)) {
                return false;
            }
            Object mine = get();
            return mine != null && mine == other.get();
        }
    }
}
