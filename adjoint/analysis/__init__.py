"""Read-only facts about a normalized function: each variable's rank and element kind
(`shapes.infer`), activity and the values the reverse sweep reads (`activity.analyze`)."""
