from django.http import JsonResponse

from .models import Book


def books(request):
    """Each book's author read lazily: one query per book."""
    return JsonResponse({"books": [[b.title, b.author.name] for b in Book.objects.order_by("id")]})


def books_fixed(request):
    """The fixed twin: the authors joined in."""
    rows = Book.objects.select_related("author").order_by("id")
    return JsonResponse({"books": [[b.title, b.author.name] for b in rows]})
