package bench

import "testing"

const million = 1_000_000

func BenchmarkMap1M(b *testing.B)           { MapInProcess(b, Ints(million), 8, nil) }
func BenchmarkErrgroup1M(b *testing.B)      { Errgroup(b, Ints(million), 8) }
func BenchmarkMap100kInMemory(b *testing.B) { MapInProcess(b, Ints(100_000), 8, nil) }
func BenchmarkMap100kDurable(b *testing.B)  { MapDurable(b, Ints(100_000), 8) }
