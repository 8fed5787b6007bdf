"""nianbao: township trade-union annual returns, validated and consolidated."""
