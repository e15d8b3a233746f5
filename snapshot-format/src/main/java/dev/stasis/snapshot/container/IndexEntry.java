package dev.stasis.snapshot.container;

/** A block as the INDEX lists it: type code, file offset, whole length (frame included). */
record IndexEntry(int type, long offset, long length) {}
