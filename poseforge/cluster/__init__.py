"""Scale-out on Ray (the `cluster` extra): sharded validation, the fleet bench, setting sweeps."""
