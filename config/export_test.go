package config

// BoolValue is the value of an on/off setting in c.
func BoolValue(s Setting, c *Config) bool { return *s.onOff(c) }
