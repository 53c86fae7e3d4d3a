package thumb

// Orientation is orientation, for the fuzz test.
var Orientation = orientation
