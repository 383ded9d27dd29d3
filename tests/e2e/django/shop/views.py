"""Two pages listing the same books: one with the classic N+1, one without."""

from django.http import HttpResponse

from shop.models import Book


def books_n_plus_one(request):
    # book.author runs one query per book: the N+1.
    lines = [f"{book.title} by {book.author.name}" for book in Book.objects.order_by("id")]
    return HttpResponse("\n".join(lines))


def books_clean(request):
    books = Book.objects.select_related("author").order_by("id")
    return HttpResponse("\n".join(f"{b.title} by {b.author.name}" for b in books))
