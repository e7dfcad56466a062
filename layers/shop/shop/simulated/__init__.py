"""Stand-ins for the partners the shop depends on, deployed with it so that every path can be tried for real."""
