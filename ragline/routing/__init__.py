"""Orchestration: routers, cascades, fallback, budgets and circuit breakers.

Every piece here wraps a :class:`~ragline.models.chat.ChatModel` and is one, so
they compose (``FallbackChatModel([BudgetedChatModel(RoutedChatModel(...)), ...])``)
and whoever holds the outermost model never knows which are inside.
:func:`~ragline.routing.compose.chat_stack` builds the stack the config describes.
"""
