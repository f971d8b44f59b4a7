package console

// RanOn is ranOn, for tests.
var RanOn = ranOn
