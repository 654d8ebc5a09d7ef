// fault_guard.h - surviving a guest that shrinks a file we have mapped.
//
// A UML guest's ring file and its physical-memory file are files the guest's
// host process can ftruncate. Touching a mapped page past the new end raises
// SIGBUS, whose default action would take the backend, and every client and
// guest it serves, down with one misbehaving guest.
//
// Such mappings are registered here. On a SIGBUS inside one, the handler maps
// anonymous zero pages over the whole mapping (MAP_FIXED, async-signal-safe),
// so the faulting access completes on zeros, and marks the mapping lost; the
// owner checks Lost() at its checkpoints (after each copy, after each round
// of ring serving) and drops the guest. A SIGBUS anywhere else keeps the
// default action: a crash with a core, as before.
//
// Host rings need none of this: their memfd is sealed against resizing.
//
// One thread (the backend's): the table is written outside the handler only,
// and the handler runs synchronously on that thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace vdvk::rings::fault_guard {

// Installs the SIGBUS handler (idempotent). false and *error on failure.
bool Install(std::string* error);

// Guards [base, base + size). Returns a slot for Lost/Unregister, or -1 when
// the table is full (the mapping is then unguarded, as before: logged).
int Register(void* base, size_t size);
void Unregister(int slot);

// The mapping of `slot` was shrunk under us and now reads zeros.
bool Lost(int slot);

// Counts lost mappings since start: a cheap "anything to look at?".
uint64_t LostCount();

}  // namespace vdvk::rings::fault_guard
