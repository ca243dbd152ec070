/*
 * Intrusive lists: the links live in the element (fields `prev` and `next`), the list is a
 * head pointer, and container_of finds the element from an embedded member. No allocation.
 */
#ifndef SD_LIST_H
#define SD_LIST_H

#include <stddef.h>

#define container_of(p, type, member) ((type *)((char *)(p)-offsetof(type, member)))

/* Puts elem first in the doubly linked list at head. */
#define dlist_push(head, elem)                                                                     \
	do {                                                                                       \
		(elem)->prev = NULL;                                                               \
		(elem)->next = (head);                                                             \
		if (head)                                                                          \
			(head)->prev = (elem);                                                     \
		(head) = (elem);                                                                   \
	} while (0)

/* Takes elem out of the doubly linked list at head; its links are cleared. */
#define dlist_unlink(head, elem)                                                                   \
	do {                                                                                       \
		if ((elem)->prev)                                                                  \
			(elem)->prev->next = (elem)->next;                                         \
		else                                                                               \
			(head) = (elem)->next;                                                     \
		if ((elem)->next)                                                                  \
			(elem)->next->prev = (elem)->prev;                                         \
		(elem)->prev = (elem)->next = NULL;                                                \
	} while (0)

#endif
